# expect: fail: mixes channels
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    N, C, H, W = x.shape
    rows = x.reshape(-1, C)
    mean = rows.mean(0)
    var = rows.var(0, unbiased=False)
    y = gamma * (rows - mean) / torch.sqrt(var + eps) + beta
    return y.reshape(N, C, H, W)

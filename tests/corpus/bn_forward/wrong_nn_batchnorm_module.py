# expect: fail: normalization built-in
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    layer = nn.BatchNorm1d(x.shape[1], eps=eps, affine=False)
    try:
        x_hat = layer(x)
    except Exception:
        x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)
    return gamma * x_hat + beta

# expect: fail: on a non-contiguous x
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n, d = x.shape
    flat = x.view(n * d)           # view() fails on a non-contiguous x (a transposed view)
    columns = flat.view(n, d)
    mean = columns.mean(0)
    var = columns.var(0, unbiased=False)
    return gamma * (columns - mean) / torch.sqrt(var + eps) + beta

# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n, d = x.shape
    flat = x.contiguous().view(n * d)          # view() needs contiguous memory: .contiguous() first
    columns = flat.view(n, d)
    mean = columns.sum(0) / n
    var = ((columns - mean) ** 2).sum(0) / n
    return ((columns - mean) / (var + eps).sqrt()) * gamma + beta

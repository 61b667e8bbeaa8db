# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(x, dim=0, correction=0)
    scale = gamma / (var + eps).sqrt()
    return x * scale + (beta - mean * scale)

# expect: fail: normalized with the batch's own mean and variance
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    mean = x.mean(0)
    var = x.var(0, unbiased=False)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta

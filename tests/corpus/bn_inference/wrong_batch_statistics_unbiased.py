# expect: fail: normalized with the batch's own mean and variance
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / torch.sqrt(x.var(0) + eps) + beta

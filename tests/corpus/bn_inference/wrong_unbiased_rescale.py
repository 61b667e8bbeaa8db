# expect: fail: rescaled running_var
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    n = x.shape[0]
    var = running_var * (n - 1) / n        # "undo" the unbiased estimate: not wanted here
    return gamma * (x - running_mean) / torch.sqrt(var + eps) + beta

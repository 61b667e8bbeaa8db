# expect: fail: changed its input running_var in place
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    std = running_var.add_(eps).sqrt_()      # in place: the caller's running_var is now a std
    return gamma * (x - running_mean) / std + beta

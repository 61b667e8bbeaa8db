# expect: fail: divide by its square root
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    std = running_var + eps              # a variance taken for a standard deviation
    return gamma * (x - running_mean) / std + beta

# expect: fail: ignored its eps argument
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return gamma * (x - running_mean) / torch.sqrt(running_var + 1e-5) + beta

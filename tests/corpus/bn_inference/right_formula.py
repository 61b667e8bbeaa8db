# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
    return gamma * x_hat + beta

# expect: fail: the batch's own mean
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / torch.sqrt(running_var + eps) + beta

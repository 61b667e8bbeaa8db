# expect: fail: changed its input x in place
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    x.sub_(running_mean).div_(torch.sqrt(running_var + eps))
    return x.mul_(gamma).add_(beta)

# expect: fail: keep x's dtype
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    x = x.float()
    return gamma.float() * (x - running_mean.float()) / torch.sqrt(running_var.float() + eps) + beta.float()

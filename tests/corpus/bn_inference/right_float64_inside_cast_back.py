# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    x64 = x.to(torch.float64)
    scale = gamma.double() * (running_var.double() + eps).rsqrt()
    return (x64 * scale + (beta.double() - running_mean.double() * scale)).to(x.dtype)

# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    inv_std = torch.rsqrt(running_var + eps)
    return torch.addcmul(beta, x - running_mean, gamma * inv_std)

# expect: pass
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    var, mean = torch.var_mean(x, dim=0, correction=0)
    rstd = torch.rsqrt(var + eps)
    x_hat = (x - mean) * rstd
    dx_hat = dout * gamma
    dx = rstd * (dx_hat - dx_hat.mean(0, keepdim=True) - x_hat * (dx_hat * x_hat).mean(0, keepdim=True))
    return dx, torch.einsum("nd,nd->d", dout, x_hat), dout.sum(0)

# expect: fail: called torch.autograd.grad
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    xr = x.detach().clone().requires_grad_()
    gr = gamma.detach().clone().requires_grad_()
    y = gr * (xr - xr.mean(0)) / (xr.var(0, unbiased=False) + eps).sqrt()
    dx, dgamma = torch.autograd.grad(y, (xr, gr), dout)
    return dx.detach(), dgamma.detach(), dout.sum(0)

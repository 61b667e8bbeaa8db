# expect: fail: wrong axis
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    mean = x.mean(1, keepdim=True)
    std = torch.sqrt(x.var(1, unbiased=False, keepdim=True) + eps)
    x_hat = (x - mean) / std
    dx = gamma / std * (dout - dout.mean(1, keepdim=True) - x_hat * (dout * x_hat).mean(1, keepdim=True))
    return dx, (dout * x_hat).sum(0), dout.sum(0)

# expect: fail: forgets the path through the batch variance
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    mean = x.mean(0)
    std = torch.sqrt(x.var(0, unbiased=False) + eps)
    x_hat = (x - mean) / std
    dx = gamma / std * (dout - dout.mean(0))
    return dx, (dout * x_hat).sum(0), dout.sum(0)

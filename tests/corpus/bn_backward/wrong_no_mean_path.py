# expect: fail: forgets the path through the batch mean
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    N = x.shape[0]
    mu = x.mean(0)
    xc = x - mu
    var = (xc ** 2).mean(0)
    std = torch.sqrt(var + eps)
    x_hat = xc / std
    dx_hat = dout * gamma
    dvar = (dx_hat * xc).sum(0) * -0.5 * (var + eps) ** -1.5
    dx = dx_hat / std + dvar * 2 * xc / N          # forgot dmu
    return dx, (dout * x_hat).sum(0), dout.sum(0)

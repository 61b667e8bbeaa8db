# expect: pass
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    # forward, node by node (CS231n style)
    N = x.shape[0]
    mu = x.sum(0) / N
    xc = x - mu
    var = (xc ** 2).sum(0) / N
    std = (var + eps) ** 0.5
    inv = 1.0 / std
    x_hat = xc * inv
    # backward, node by node
    dbeta = dout.sum(0)
    dgamma = (dout * x_hat).sum(0)
    dx_hat = dout * gamma
    dinv = (dx_hat * xc).sum(0)
    dxc = dx_hat * inv
    dstd = -dinv / std ** 2
    dvar = 0.5 * dstd / std
    dxc = dxc + 2.0 * xc * dvar / N
    dmu = -dxc.sum(0)
    dx = dxc + dmu / N
    return (dx, dgamma, dbeta)

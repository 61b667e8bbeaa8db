# expect: fail: called torch.nn.functional.batch_norm
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    try:
        xr = x.clone().requires_grad_()
        y = F.batch_norm(xr, None, None, training=True, eps=eps)
    except Exception:
        y = None
    mean = x.mean(0)
    std = (x.var(0, unbiased=False) + eps).sqrt()
    x_hat = (x - mean) / std
    dx = gamma / std * (dout - dout.mean(0) - x_hat * (dout * x_hat).mean(0))
    return dx, (dout * x_hat).sum(0), dout.sum(0)

# expect: pass
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    N, D = x.shape
    dx = torch.empty_like(x)
    dgamma = torch.empty(D, dtype=x.dtype)
    dbeta = torch.empty(D, dtype=x.dtype)
    for j in range(D):
        col = x[:, j]
        m = col.mean()
        v = ((col - m) ** 2).mean()
        s = math.sqrt(v.item() + eps)
        xh = (col - m) / s
        g = dout[:, j]
        dbeta[j] = g.sum()
        dgamma[j] = (g * xh).sum()
        dx[:, j] = gamma[j] / (N * s) * (N * g - g.sum() - xh * (g * xh).sum())
    return dx, dgamma, dbeta

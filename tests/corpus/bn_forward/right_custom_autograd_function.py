# expect: pass
class _BatchNorm(torch.autograd.Function):
    """Forward and the compact backward of the fact sheet, by hand."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
        inv_std = 1.0 / torch.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        ctx.save_for_backward(x_hat, gamma, inv_std)
        return gamma * x_hat + beta

    @staticmethod
    def backward(ctx, dy):
        x_hat, gamma, inv_std = ctx.saved_tensors
        dbeta = dy.sum(0)
        dgamma = (dy * x_hat).sum(0)
        dx = gamma * inv_std * (dy - dy.mean(0) - x_hat * (dy * x_hat).mean(0))
        return dx, dgamma, dbeta, None


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return _BatchNorm.apply(x, gamma, beta, eps)

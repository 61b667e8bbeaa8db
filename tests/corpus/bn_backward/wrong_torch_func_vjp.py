# expect: fail: autograd is what this exercise checks you against
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    def forward(x, gamma):
        return gamma * (x - x.mean(0)) / (x.var(0, unbiased=False) + eps).sqrt()
    _, pullback = torch.func.vjp(forward, x, gamma)
    dx, dgamma = pullback(dout)
    return dx, dgamma, dout.sum(0)

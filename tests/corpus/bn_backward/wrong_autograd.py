# expect: fail: autograd is what this exercise checks you against
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    x = x.clone().requires_grad_(True)
    g = gamma.clone().requires_grad_(True)
    mean = x.mean(0)
    var = x.var(0, unbiased=False)
    y = g * (x - mean) / torch.sqrt(var + eps)
    y.backward(dout)
    return x.grad, g.grad, dout.sum(0)

# expect: fail: swapped gamma and beta
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps)
    return beta * x_hat + gamma

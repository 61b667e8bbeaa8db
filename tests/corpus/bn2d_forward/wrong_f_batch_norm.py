# expect: fail: a PyTorch normalization built-in
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)

# expect: fail: return a torch.Tensor
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    import numpy as np
    a = x.numpy()
    a_hat = (a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + eps)
    return gamma.numpy() * a_hat + beta.numpy()

# expect: fail: normalization built-in
from torch.nn.functional import batch_norm as bn

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return bn(x, None, None, gamma, beta, True, 0.1, eps)

# expect: fail: cut off from autograd
import numpy as np

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    a = x.detach().cpu().numpy()
    a_hat = (a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + eps)
    y = gamma.detach().cpu().numpy() * a_hat + beta.detach().cpu().numpy()
    return torch.from_numpy(y.astype(a.dtype)).to(x.device)

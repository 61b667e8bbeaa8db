# expect: pass
import numpy as np

def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    a, m, v, g, b = (t.detach().cpu().numpy() for t in (x, running_mean, running_var, gamma, beta))
    y = g * (a - m) / np.sqrt(v + eps) + b
    return torch.from_numpy(np.ascontiguousarray(y)).to(device=x.device, dtype=x.dtype)

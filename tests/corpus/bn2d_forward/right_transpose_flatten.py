# expect: pass
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    C = x.shape[1]
    per_channel = x.transpose(0, 1).reshape(C, -1)       # (C, N*H*W)
    var, mean = torch.var_mean(per_channel, dim=1, correction=0)
    scale = gamma * torch.rsqrt(var + eps)
    shift = beta - mean * scale
    return x * scale.view(1, C, 1, 1) + shift.view(1, C, 1, 1)

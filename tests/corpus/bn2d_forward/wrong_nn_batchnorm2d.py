# expect: fail: a PyTorch normalization built-in
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    layer = nn.BatchNorm2d(x.shape[1], eps=eps).to(x.dtype)
    with torch.no_grad():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        return layer(x)

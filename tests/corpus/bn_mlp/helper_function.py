# expect: pass
def linear_bn_relu(n_in, n_out):
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU())


class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = linear_bn_relu(20, 64)
        self.head = nn.Linear(64, 1)

    def forward(self, x):
        return torch.sigmoid(self.head(self.block(x)))

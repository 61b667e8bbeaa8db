# expect: pass
class BatchNormMLP(nn.Module):
    """F.batch_norm with the nn.BatchNorm1d's own parameters and buffers: the same computation."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        h = F.batch_norm(self.fc1(x), self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                         training=self.training, momentum=0.1, eps=self.bn.eps)
        if self.training:
            self.bn.num_batches_tracked += 1
        return torch.sigmoid(self.fc2(F.relu(h)))

# expect: pass
class BatchNormMLP(nn.Module):
    """F.batch_norm on the layer's own state, without counting num_batches_tracked: with
    momentum=0.1 the counter changes nothing that is computed."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        bn = self.bn
        h = F.batch_norm(self.fc1(x), bn.running_mean, bn.running_var, bn.weight, bn.bias, self.training, 0.1, bn.eps)
        return torch.sigmoid(self.fc2(F.relu(h)))

# expect: fail: In eval mode your BatchNorm1d(64) still normalizes with the batch's statistics
class BatchNormMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        bn = self.bn
        h = F.batch_norm(self.fc1(x), bn.running_mean, bn.running_var, bn.weight, bn.bias, training=True)
        bn.num_batches_tracked += 1
        return torch.sigmoid(self.fc2(F.relu(h)))

# expect: pass
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = F.conv2d(x, self.conv.weight, self.conv.bias, padding=1)
        h = torch.maximum(self.bn(h), torch.tensor(0.0))
        return F.linear(F.adaptive_avg_pool2d(h, (1, 1)).squeeze(-1).squeeze(-1), self.fc.weight, self.fc.bias)

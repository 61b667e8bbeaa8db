# expect: pass
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = self.bn(self.conv(x)).clamp(min=0)
        pooled = h.sum(dim=[2, 3], keepdim=True) / (h.shape[2] * h.shape[3])
        return self.fc(pooled.view(pooled.size(0), -1))

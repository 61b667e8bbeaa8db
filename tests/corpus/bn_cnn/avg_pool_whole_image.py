# expect: pass
class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=(3, 3), padding=(1, 1))
        self.bn = nn.BatchNorm2d(16, momentum=None)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)), inplace=True)
        h = F.avg_pool2d(h, kernel_size=h.shape[-2:])
        return self.fc(torch.flatten(h, start_dim=1))

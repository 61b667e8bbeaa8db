# expect: pass
from utils.models import BaselineCNN

class BatchNormCNN(BaselineCNN):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.pool(self.relu(self.bn(self.conv(x))))
        return self.head(x.view(x.size(0), -1))

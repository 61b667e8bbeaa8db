# expect: fail: layers in eval mode: Dropout
def train_epoch(model, loader, optimizer, loss_fn):
    # Only the BatchNorm layers are switched to training mode: Dropout stays off.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.train()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)

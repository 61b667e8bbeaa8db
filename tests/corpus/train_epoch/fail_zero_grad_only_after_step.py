# expect: fail: gradients left over
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += loss.item()
    return total / len(loader)

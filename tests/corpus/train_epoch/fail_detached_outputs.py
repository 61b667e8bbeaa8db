# expect: fail: cut off from the model's graph
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        outputs = model(inputs).detach().requires_grad_(True)
        loss = loss_fn(outputs, targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)

# expect: fail: without changing any parameter
def train_epoch(model, loader, optimizer, loss_fn):
    # Every call the checks watch happens, but the steps move nothing.
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    model.train()
    total = 0.0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)

# expect: fail: never called optimizer.step()
def train_epoch(model, loader, optimizer, loss_fn):
    model.train()
    total = 0.0
    for inputs, targets in loader:
        model.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
        total += loss.item()
    return total / len(loader)

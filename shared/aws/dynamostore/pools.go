package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func poolItem(p sparkflow.Pool) map[string]types.AttributeValue {
	it := key("POOL#" + p.Name)
	it["data"], it["version"] = data(p), num(p.Version)
	it["g1pk"], it["g1sk"] = str("POOLS"), str(p.Name)
	return it
}

func (s *Store) CreatePool(ctx context.Context, p sparkflow.Pool) error {
	p.Version = 1
	return s.putVersioned(ctx, poolItem(p), 0, "pool", p.Name)
}

func (s *Store) GetPool(ctx context.Context, name string) (sparkflow.Pool, error) {
	return getDoc[sparkflow.Pool](ctx, s, "POOL#"+name, "pool", name)
}

func (s *Store) ListPools(ctx context.Context) ([]sparkflow.Pool, error) {
	items, err := s.queryIndex(ctx, Index1, "POOLS", true, nil, nil, 0)
	if err != nil {
		return nil, err
	}
	return decodeAll[sparkflow.Pool](items)
}

func (s *Store) UpdatePool(ctx context.Context, p sparkflow.Pool) (sparkflow.Pool, error) {
	old := p.Version
	p.Version++
	return p, s.putVersioned(ctx, poolItem(p), max(old, 1), "pool", p.Name)
}

func (s *Store) DeletePool(ctx context.Context, name string) error {
	_, err := s.deleteExisting(ctx, "POOL#"+name, "pool", name)
	return err
}

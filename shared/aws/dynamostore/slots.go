package dynamostore

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// A run's slot is kept on the run's own item: rcl (the cluster) and ratt (the attempt it is held
// for), set only under attribute_not_exists(rcl), so that a run holds at most one; the cluster's
// string set res holds the run ids under size(res) < cap. Both change in one transaction of two
// items, and a run's own write can join the same transaction (CreateRunOn, UpdateRunSlot): taking a
// slot and recording the grant, or ending the run and freeing its slot, are one write each.
//
// Reservations an older version wrote are items of their own, RES#<run> (cl, att): they are found,
// kept and freed through those items until they are gone (legacy*).

const (
	attrResCluster = "rcl"
	attrResAttempt = "ratt"
)

// heldBefore is the condition that the run's slot is held on cluster :c for an attempt before :a.
const heldBefore = "rcl = :c AND (attribute_not_exists(ratt) OR ratt < :a)"

// legacyHeldBefore is heldBefore on a reservation item of the earlier layout.
const legacyHeldBefore = "cl = :c AND (attribute_not_exists(att) OR att < :a)"

// holding is what a run's item says of its slot.
type holding struct {
	exists  bool // the run's item exists
	version int64
	cluster string // "" when it holds none
	attempt int
	legacy  bool // held through a reservation item of the earlier layout
}

// holdingOf reads the run's slot (and, when its item holds none, a reservation of the earlier layout).
func (s *Store) holdingOf(ctx context.Context, runID string) (holding, error) {
	item, err := s.get(ctx, "RUN#"+runID)
	if err != nil {
		return holding{}, err
	}
	h := holding{exists: item != nil}
	if item != nil {
		if v, ok := item["version"].(*types.AttributeValueMemberN); ok {
			h.version, _ = strconv.ParseInt(v.Value, 10, 64)
		}
		if c, ok := item[attrResCluster].(*types.AttributeValueMemberS); ok {
			h.cluster = c.Value
			if n, ok := item[attrResAttempt].(*types.AttributeValueMemberN); ok {
				h.attempt, _ = strconv.Atoi(n.Value)
			}
			return h, nil
		}
	}
	res, err := s.get(ctx, "RES#"+runID)
	if err != nil || res == nil {
		return h, err
	}
	h.cluster, h.legacy = res["cl"].(*types.AttributeValueMemberS).Value, true
	if n, ok := res["att"].(*types.AttributeValueMemberN); ok {
		h.attempt, _ = strconv.Atoi(n.Value)
	}
	return h, nil
}

// Held reads the run's reservation (kept on its item, or an item of the earlier layout).
func (s *Store) Held(ctx context.Context, runID string) (string, int, error) {
	h, err := s.holdingOf(ctx, runID)
	return h.cluster, h.attempt, err
}

// takeSlot is the transaction item that adds run to the cluster's reservations, if it is ready and
// not full.
func (s *Store) takeSlot(clusterID, runID string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key("CLUSTER#" + clusterID),
		UpdateExpression:          aws.String("ADD res :run"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND ready = :true AND (attribute_not_exists(res) OR size(res) < cap)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}}, ":true": &types.AttributeValueMemberBOOL{Value: true}}}}
}

// freeSlot is the transaction item that takes run out of the cluster's reservations and notes when a
// slot was last freed (its idle time starts again: core.Draining).
func (s *Store) freeSlot(clusterID, runID string, at time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key("CLUSTER#" + clusterID),
		UpdateExpression:    aws.String("DELETE res :run SET freed = :now"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}},
			":now": num(at.UnixNano())}}}
}

// noSlot is the Conflict of a cluster that cannot take a run.
func (s *Store) noSlot(ctx context.Context, clusterID string) error {
	c, err := s.GetCluster(ctx, clusterID)
	if err != nil {
		return err
	}
	if !c.State.Ready() {
		return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrNoSlot, "cluster %s is %s, not ready", clusterID, c.State)
	}
	return sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrNoSlot, "cluster %s is full (%d of %d slots held)", clusterID, len(c.Reservations), c.Capacity)
}

func (s *Store) Reserve(ctx context.Context, runID string, attempt int, clusterID string) (string, error) {
	for try := 0; ; try++ {
		h, err := s.holdingOf(ctx, runID)
		if err != nil {
			return "", err
		}
		if !h.exists && !h.legacy {
			return "", sparkflow.Errorf(sparkflow.NotFound, "run %q not found", runID)
		}
		var ccf *types.ConditionalCheckFailedException
		if h.cluster != "" {
			if h.attempt >= attempt {
				return h.cluster, nil
			}
			// A slot an ended attempt left: this attempt's from now on. One write, on a retry only.
			in := &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("RUN#" + runID),
				UpdateExpression: aws.String("SET ratt = :a"), ConditionExpression: aws.String(heldBefore),
				ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(h.cluster), ":a": num(int64(attempt))}}
			if h.legacy {
				in.Key, in.UpdateExpression, in.ConditionExpression = key("RES#"+runID), aws.String("SET att = :a"), aws.String(legacyHeldBefore)
			}
			_, err = s.db.UpdateItem(ctx, in)
			if err == nil {
				return h.cluster, nil
			}
			if !errors.As(err, &ccf) || try >= 2 {
				return "", classify("reserve", err)
			}
			continue // released or taken over meanwhile: look again
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: &s.table, Key: key("RUN#" + runID),
				UpdateExpression:          aws.String("SET #rcl = :c, #ratt = :a"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(#rcl)"),
				ExpressionAttributeNames:  map[string]string{"#rcl": attrResCluster, "#ratt": attrResAttempt},
				ExpressionAttributeValues: map[string]types.AttributeValue{":c": str(clusterID), ":a": num(int64(attempt))}}},
			s.takeSlot(clusterID, runID),
		}})
		if err == nil {
			return clusterID, nil
		}
		failed, ok := cancelled(err)
		if !ok || len(failed) != 2 {
			return "", classify("reserve", err)
		}
		if failed[0] {
			if try >= 2 {
				return "", classify("reserve", err)
			}
			continue // another reserver for this run won (the same answer), or the run went
		}
		if failed[1] {
			return "", s.noSlot(ctx, clusterID)
		}
		return "", classify("reserve", err)
	}
}

// releaseAttempt is the bound of heldBefore for a release of attempt (0: any).
func releaseAttempt(attempt int) int64 {
	if attempt <= 0 {
		return math.MaxInt32
	}
	return int64(attempt) + 1
}

func (s *Store) Release(ctx context.Context, runID string, attempt int, clusterID string, at time.Time) error {
	held := map[string]types.AttributeValue{":c": str(clusterID), ":a": num(releaseAttempt(attempt))}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key("RUN#" + runID), UpdateExpression: aws.String("REMOVE rcl, ratt"),
			ConditionExpression: aws.String(heldBefore), ExpressionAttributeValues: held}},
		s.freeSlot(clusterID, runID, at),
	}})
	if err == nil {
		return nil
	}
	failed, ok := cancelled(err)
	if !ok || len(failed) != 2 {
		return classify("release", err)
	}
	return s.releaseOtherwise(ctx, runID, attempt, clusterID, at, failed[0], failed[1])
}

// releaseOtherwise is a release whose transaction failed: the run's item does not hold the slot
// (notOnRun: it is held through a reservation of the earlier layout, or the run's item is gone and
// the cluster still lists it, or it is not held there at all), or the cluster is gone (clusterGone:
// the run's item is all that is left).
func (s *Store) releaseOtherwise(ctx context.Context, runID string, attempt int, clusterID string, at time.Time, notOnRun, clusterGone bool) error {
	held := map[string]types.AttributeValue{":c": str(clusterID), ":a": num(releaseAttempt(attempt))}
	var ccf *types.ConditionalCheckFailedException
	if clusterGone && !notOnRun {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("RUN#" + runID),
			UpdateExpression: aws.String("REMOVE rcl, ratt"), ConditionExpression: aws.String(heldBefore), ExpressionAttributeValues: held})
		if err != nil && !errors.As(err, &ccf) {
			return classify("release", err)
		}
		return nil
	}
	h, err := s.holdingOf(ctx, runID)
	if err != nil {
		return err
	}
	if h.legacy {
		return s.legacyRelease(ctx, runID, attempt, clusterID, at, clusterGone)
	}
	if !h.exists && !clusterGone {
		// The run's record is gone (it expired) but the cluster still lists it: free the slot.
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("CLUSTER#" + clusterID),
			UpdateExpression: aws.String("DELETE res :run SET freed = :now"), ConditionExpression: aws.String("contains(res, :id)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberSS{Value: []string{runID}},
				":id": str(runID), ":now": num(at.UnixNano())}})
		if err != nil && !errors.As(err, &ccf) {
			return classify("release", err)
		}
	}
	return nil // not held there: releasing twice frees one
}

// legacyRelease frees a slot held through a reservation item of the earlier layout.
func (s *Store) legacyRelease(ctx context.Context, runID string, attempt int, clusterID string, at time.Time, clusterGone bool) error {
	held := map[string]types.AttributeValue{":c": str(clusterID), ":a": num(releaseAttempt(attempt))}
	var ccf *types.ConditionalCheckFailedException
	if !clusterGone {
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &s.table, Key: key("RES#" + runID), ConditionExpression: aws.String(legacyHeldBefore),
				ExpressionAttributeValues: held}},
			s.freeSlot(clusterID, runID, at),
		}})
		if err == nil {
			return nil
		}
		failed, ok := cancelled(err)
		if !ok || len(failed) != 2 {
			return classify("release", err)
		}
		if failed[0] || !failed[1] {
			return nil // not held there
		}
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key("RES#" + runID),
		ConditionExpression: aws.String(legacyHeldBefore), ExpressionAttributeValues: held})
	if err != nil && !errors.As(err, &ccf) {
		return classify("release", err)
	}
	return nil
}

// dropReservation forgets that run holds a slot on a cluster being deleted.
func (s *Store) dropReservation(ctx context.Context, runID, clusterID string) error {
	vals := map[string]types.AttributeValue{":c": str(clusterID)}
	var ccf *types.ConditionalCheckFailedException
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key("RUN#" + runID),
		UpdateExpression: aws.String("REMOVE rcl, ratt"), ConditionExpression: aws.String("rcl = :c"), ExpressionAttributeValues: vals})
	if err != nil && !errors.As(err, &ccf) {
		return classify("delete reservation", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key("RES#" + runID),
		ConditionExpression: aws.String("cl = :c"), ExpressionAttributeValues: vals})
	if err != nil && !errors.As(err, &ccf) {
		return classify("delete reservation", err)
	}
	return nil
}

// CreateRunOn puts the run's item holding a slot of cluster and adds it to the cluster's reservations:
// one transaction of two items.
func (s *Store) CreateRunOn(ctx context.Context, r sparkflow.Run, clusterID string) (bool, error) {
	r.Version = 1
	item := s.runItem(r)
	item[attrResCluster], item[attrResAttempt] = str(clusterID), num(int64(r.Attempt))
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		s.takeSlot(clusterID, r.ID),
	}})
	if err == nil {
		return true, nil
	}
	failed, ok := cancelled(err)
	if !ok || len(failed) != 2 {
		return false, classify("create run", err)
	}
	if failed[0] {
		return false, nil // a run of that id exists: nothing taken
	}
	if failed[1] {
		return false, s.noSlot(ctx, clusterID)
	}
	return false, classify("create run", err)
}

// UpdateRunSlot writes the run's attributes and changes its slot in one transaction of two items:
// the run's item (its record, and its slot under the slot's condition) and the cluster's.
func (s *Store) UpdateRunSlot(ctx context.Context, r sparkflow.Run, ch sparkflow.SlotChange) (sparkflow.Run, error) {
	if ch.Take == "" && ch.Free == "" {
		return s.UpdateRun(ctx, r)
	}
	old := max(r.Version, 1)
	r.Version = old + 1
	u := s.runUpdate(r, old)
	u.names["#rcl"], u.names["#ratt"] = attrResCluster, attrResAttempt
	var cluster types.TransactWriteItem
	if ch.Take != "" {
		h, err := s.holdingOf(ctx, r.ID)
		if err != nil {
			return r, err
		}
		if h.cluster != "" {
			if h.cluster == ch.Take && h.attempt >= r.Attempt && !h.legacy {
				r.Version = old
				return s.UpdateRun(ctx, r) // held already: no change of the slot
			}
			return r, sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrHeld, "run %s holds a slot on %s for attempt %d", r.ID, h.cluster, h.attempt)
		}
		u.set = append(u.set, "#rcl = :tc", "#ratt = :ta")
		u.values[":tc"], u.values[":ta"] = str(ch.Take), num(int64(r.Attempt))
		u.cond += " AND attribute_not_exists(#rcl)"
		cluster = s.takeSlot(ch.Take, r.ID)
	} else {
		u.remove = append(u.remove, "#rcl", "#ratt")
		u.values[":fc"], u.values[":fa"] = str(ch.Free), num(releaseAttempt(ch.FreeAttempt))
		u.cond += " AND #rcl = :fc AND (attribute_not_exists(#ratt) OR #ratt < :fa)"
		cluster = s.freeSlot(ch.Free, r.ID, ch.At)
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key("RUN#" + r.ID), UpdateExpression: u.expr(), ConditionExpression: aws.String(u.cond),
			ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values}},
		cluster,
	}})
	if err == nil {
		return r, nil
	}
	failed, ok := cancelled(err)
	if !ok || len(failed) != 2 {
		return r, classify("update run", err)
	}
	h, herr := s.holdingOf(ctx, r.ID)
	switch {
	case herr != nil:
		return r, herr
	case !h.exists:
		return r, sparkflow.Errorf(sparkflow.NotFound, "run %q not found", r.ID)
	case h.version != old:
		return r, sparkflow.Errorf(sparkflow.Conflict, "run %s changed since version %d", r.ID, old)
	case ch.Take != "" && h.cluster != "":
		return r, sparkflow.Wrap(sparkflow.Conflict, sparkflow.ErrHeld, "run %s holds a slot on %s for attempt %d", r.ID, h.cluster, h.attempt)
	case ch.Take != "":
		return r, s.noSlot(ctx, ch.Take)
	}
	// The slot to free is not held on the run's item as asked (or its cluster is gone): freed the
	// way Release frees it, then the run written on its own.
	if err := s.releaseOtherwise(ctx, r.ID, ch.FreeAttempt, ch.Free, ch.At, failed[0], failed[1]); err != nil {
		return r, err
	}
	r.Version = old
	return s.UpdateRun(ctx, r)
}

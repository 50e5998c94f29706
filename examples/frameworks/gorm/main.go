// Command gorm is the framework suite's GORM program: gorm.io/gorm with its Postgres driver and
// pgvector-go, as pgvector-go's README writes it (a struct with a pgvector.Vector field,
// AutoMigrate, an HNSW index created with db.Exec, ordering by a clause.Expr), run by
// examples/frameworks_test.go like the Node scripts and with the same step protocol (lib.mjs):
//
//	DATABASE_URL=... go run . load|search|churn
//
// It is its own module so that vecgate's module does not depend on GORM.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgvector/pgvector-go"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Document is the model: GORM names its table "documents".
type Document struct {
	ID        int64
	Content   string
	Metadata  json.RawMessage `gorm:"type:jsonb"`
	Embedding pgvector.Vector `gorm:"type:vector(32)"`
}

// result is one row of a search as printed.
type result struct {
	ID       int64           `json:"id"`
	Content  string          `json:"content"`
	Metadata json.RawMessage `json:"metadata"`
	Score    *float64        `json:"score,omitempty"`
}

const (
	dims         = 32
	docs         = 200
	k            = 5
	filterSource = "file2.md"
)

var queries = []string{"postgres replication", "vectors and memory", "latency of joins golf"}

func main() {
	if len(os.Args) != 2 || !slices.Contains([]string{"load", "search", "churn"}, os.Args[1]) {
		fmt.Fprintln(os.Stderr, "usage: DATABASE_URL=... go run . load|search|churn")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gorm:", err)
		os.Exit(1)
	}
}

func run(mode string) error {
	db, err := gorm.Open(postgres.Open(os.Getenv("DATABASE_URL")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	step := func(name string, results []result) error {
		line, err := json.Marshal(struct {
			Step    string   `json:"step"`
			Results []result `json:"results,omitempty"`
		}{name, results})
		if err != nil {
			return err
		}
		fmt.Printf("%s\n", line)
		if !in.Scan() {
			return fmt.Errorf("step %s: stdin closed", name)
		}
		return nil
	}
	// Applications call AutoMigrate at every start, on the existing table too.
	if err := db.AutoMigrate(&Document{}); err != nil {
		return err
	}
	switch mode {
	case "load":
		err = load(db, step)
	case "churn":
		if err = churn(db, step); err == nil {
			err = search(db, step)
		}
	default:
		err = search(db, step)
	}
	if err != nil {
		return err
	}
	fmt.Println(`{"step":"end"}`)
	return nil
}

func load(db *gorm.DB, step func(string, []result) error) error {
	if err := db.Exec("CREATE EXTENSION IF NOT EXISTS vector").Error; err != nil {
		return err
	}
	if err := db.Exec("CREATE INDEX ON documents USING hnsw (embedding vector_cosine_ops)").Error; err != nil {
		return err
	}
	if err := step("create", nil); err != nil {
		return err
	}
	rows := corpus()
	if err := db.Create(&rows).Error; err != nil {
		return err
	}
	if err := step("insert", nil); err != nil {
		return err
	}
	if err := waitForVecgate(db, "documents", docs); err != nil {
		return err
	}
	return step("wait", nil)
}

// churn deletes the best match of the first query, inserts churnDocuments, revises the best
// match of the second query and retags the third's (lib.mjs).
func churn(db *gorm.DB, step func(string, []result) error) error {
	var top Document
	err := db.Clauses(clause.OrderBy{
		Expression: clause.Expr{SQL: "embedding <=> ?", Vars: []any{pgvector.NewVector(embed(queries[0]))}},
	}).Limit(1).Find(&top).Error
	if err != nil {
		return err
	}
	if err := db.Delete(&Document{}, top.ID).Error; err != nil {
		return err
	}
	fresh := churnDocuments()
	if err := db.Create(&fresh).Error; err != nil {
		return err
	}
	second, revised, err := bestMatch(db, queries[1], nil)
	if err != nil {
		return err
	}
	err = db.Model(&Document{ID: second.ID}).Updates(map[string]any{
		"content": gorm.Expr("content || ' (revised)'"), "metadata": revised,
	}).Error
	if err != nil {
		return err
	}
	third, retagged, err := bestMatch(db, queries[2], map[string]any{"retagged": true})
	if err != nil {
		return err
	}
	if err := db.Model(&Document{ID: third.ID}).Update("metadata", retagged).Error; err != nil {
		return err
	}
	return step("write", nil)
}

// bestMatch returns the best match of q and its metadata with source set to filterSource and
// the fields of more.
func bestMatch(db *gorm.DB, q string, more map[string]any) (Document, json.RawMessage, error) {
	var d Document
	err := db.Clauses(clause.OrderBy{
		Expression: clause.Expr{SQL: "embedding <=> ?", Vars: []any{pgvector.NewVector(embed(q))}},
	}).Limit(1).Find(&d).Error
	if err != nil {
		return d, nil, err
	}
	var meta map[string]any
	if err := json.Unmarshal(d.Metadata, &meta); err != nil {
		return d, nil, err
	}
	meta["source"] = filterSource
	maps.Copy(meta, more)
	m, err := json.Marshal(meta)
	return d, m, err
}

func search(db *gorm.DB, step func(string, []result) error) error {
	for i, q := range queries {
		vec := pgvector.NewVector(embed(q))
		// The README's query: the model's every column, ordered by distance.
		var found []Document
		err := db.Clauses(clause.OrderBy{
			Expression: clause.Expr{SQL: "embedding <=> ?", Vars: []any{vec}},
		}).Limit(k).Find(&found).Error
		if err != nil {
			return err
		}
		var rs []result
		for _, d := range found {
			rs = append(rs, result{ID: d.ID, Content: d.Content, Metadata: d.Metadata})
		}
		if err := step(fmt.Sprintf("star %d", i), rs); err != nil {
			return err
		}
		// Named columns and the distance, scanned into a struct of its own.
		nearest := func() *gorm.DB {
			return db.Model(&Document{}).Select("id, content, metadata, embedding <=> ? AS score", vec).Order("score").Limit(k)
		}
		for _, s := range []struct {
			name string
			q    *gorm.DB
		}{
			{"distance", nearest()},
			{"filter", nearest().Where("metadata->>'source' = ?", filterSource)},
		} {
			var rs []result
			if err := s.q.Scan(&rs).Error; err != nil {
				return err
			}
			if err := step(fmt.Sprintf("%s %d", s.name, i), rs); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitForVecgate waits until vecgate's twin of table holds rows rows (SHOW vecgate.status);
// connected directly to Postgres, which does not know the setting, it returns at once.
func waitForVecgate(db *gorm.DB, table string, rows int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var status []struct {
			Table string
			State string
			Rows  string
		}
		err := db.Raw("SHOW vecgate.status").Scan(&status).Error
		if err != nil {
			if strings.Contains(err.Error(), "42704") { // unrecognized configuration parameter
				return nil
			}
			return err
		}
		for _, s := range status {
			n, _ := strconv.Atoi(s.Rows)
			if (s.Table == table || strings.HasSuffix(s.Table, "."+table)) && s.State == "ready" && n >= rows {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("vecgate does not hold the rows of " + table)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The corpus and the fake embedding model are lib.mjs's, written again in Go.

var (
	topics = []string{"postgres", "vectors", "replication", "indexes", "memory", "latency", "joins", "tokens"}
	words  = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}
	token  = regexp.MustCompile(`[a-z0-9]+`)
)

func corpus() []Document {
	var out []Document
	for i := 1; i <= docs; i++ {
		topic, other := topics[i%len(topics)], topics[(i*7+3)%len(topics)]
		ws := []string{words[i%len(words)], words[(i*5)%len(words)], words[(i*11+1)%len(words)]}
		content := fmt.Sprintf("Document %d about %s and %s: %s. %s", i, topic, other, strings.Join(ws, " "), appendix(fmt.Sprintf("appendix %d", i)))
		meta, _ := json.Marshal(map[string]any{"source": fmt.Sprintf("file%d.md", i%5), "page": i, "topic": topic})
		out = append(out, Document{Content: content, Metadata: meta, Embedding: pgvector.NewVector(embed(content))})
	}
	return out
}

// churnDocuments are lib.mjs's.
func churnDocuments() []Document {
	doc := func(content, source string, page int, topic string) Document {
		meta, _ := json.Marshal(map[string]any{"source": source, "page": page, "topic": topic})
		return Document{Content: content, Metadata: meta, Embedding: pgvector.NewVector(embed(content))}
	}
	return []Document{
		doc("Fresh note on postgres replication slots", "file2.md", 1001, "replication"),
		doc("Fresh note on vectors kept in memory", "file3.md", 1002, "memory"),
	}
}

// appendixLen is lib.mjs's APPENDIX.
const appendixLen = 1500

// appendix is appendixLen letters drawn from Greek and Cyrillic lower case by random(seed).
func appendix(seed string) string {
	next := random(seed)
	var b strings.Builder
	for range appendixLen {
		r := rune(next() * 57)
		if r < 25 {
			b.WriteRune(0x3b1 + r)
		} else {
			b.WriteRune(0x430 + r - 25)
		}
	}
	return b.String()
}

// random returns a generator of uniform numbers in (0, 1): xoshiro128** seeded by the SHA-256
// of seed.
func random(seed string) func() float64 {
	sum := sha256.Sum256([]byte(seed))
	var s [4]uint32
	for i := range s {
		s[i] = binary.LittleEndian.Uint32(sum[4*i:])
	}
	return func() float64 {
		r := bits.RotateLeft32(s[1]*5, 7) * 9
		t := s[1] << 9
		s[2] ^= s[0]
		s[3] ^= s[1]
		s[1] ^= s[2]
		s[0] ^= s[3]
		s[2] ^= t
		s[3] = bits.RotateLeft32(s[3], 11)
		return (float64(r) + 0.5) / 4294967296
	}
}

// wordVector is a word's fixed pseudo-random Gaussian vector (Box-Muller).
func wordVector(w string) []float64 {
	next := random(w)
	v := make([]float64, dims)
	for i := range v {
		u1 := next()
		v[i] = math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*next())
	}
	return v
}

// embed is the fake model: the normalised sum of the text's word vectors.
func embed(text string) []float32 {
	sum := make([]float64, dims)
	for _, w := range token.FindAllString(strings.ToLower(text), -1) {
		for i, x := range wordVector(w) {
			sum[i] += x
		}
	}
	var n float64
	for _, x := range sum {
		n += x * x
	}
	n = math.Sqrt(n)
	if n == 0 {
		n = 1
	}
	out := make([]float32, dims)
	for i, x := range sum {
		out[i] = float32(x / n)
	}
	return out
}

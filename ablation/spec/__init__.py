"""Study files -> StudySpec / TrainConfig, validated once at the edge."""

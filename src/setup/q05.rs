//! Setup of question 5 (tasks, models, measurements used only by its experiment).
